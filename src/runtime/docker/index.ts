export { DockerDriver, type DockerDriverOptions } from './driver.js';
export { STACK_IMAGE, connectEngine, requireEngine, engineAddress } from '../../docker/engine.js';
export { buildStack } from '../../docker/stack.js';
