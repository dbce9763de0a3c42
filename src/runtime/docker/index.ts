export { DockerDriver, type DockerDriverOptions } from './driver.js';
export { STACK_IMAGE, connectEngine, requireEngine, engineAddress } from './engine.js';
export { buildStack } from './stack.js';
