export { ProcessDriver, type ProcessDriverOptions } from './driver.js';
export type { ExitListener } from '../exit-listeners.js';
export type { RestartPolicy } from './supervisor.js';
export { PortAllocator, isPortFree } from '../ports.js';
