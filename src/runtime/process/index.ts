export { ProcessDriver, type ProcessDriverOptions, type ExitListener } from './driver.js';
export type { RestartPolicy } from './supervisor.js';
export { PortAllocator, isPortFree } from './ports.js';
