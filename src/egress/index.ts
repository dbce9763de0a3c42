/**
 * Egress: the one check every request the server makes on a user's behalf
 * goes through (artifact URLs, origins, buildpacks, webhooks): the scheme,
 * the resolved address on every hop, file URLs and host paths for admins
 * only, regular files only, timeouts and a size limit.
 */
export { CLASS_TEXT, classify, parseIp, type AddressClass } from './addresses.js';
export { parseAllowList, parseCidr } from './cidr.js';
export { openRegularFile } from './file.js';
export { gitEgress, gitTransport, parseGitRemote, type GitRemote, type GitTransport } from './git.js';
export { egressGet } from './http-get.js';
export {
  DEFAULT_EGRESS,
  checkAddress,
  egressError,
  refuseLocal,
  resolveChecked,
  shownUrl,
  type EgressSettings,
  type Target,
} from './policy.js';
export { egressRequest } from './request.js';
export { checkFetchUrlAtSet, checkGitUrlAtSet, checkLiteralHost, type Setter } from './rules.js';
export { setByAdmin, trustEntry, trustKey } from './trust.js';
