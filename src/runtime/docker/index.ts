export { DockerDriver, type DockerDriverOptions } from './driver.js';
