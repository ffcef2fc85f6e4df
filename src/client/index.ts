/** cfgproxy client SDK: `import { connect } from 'cfgproxy'`. */
export { CfgClient, connect, type CfgClientEvents, type ConnectOptions, type Notification } from './client.js';
export { CfgError, ErrorCode, OBJECT_TYPES } from '../../protocol/index.js';
export type { ConfigObject, NewObject, ObjectDelta, ObjectFilter, NotificationFilter, ObjectType } from '../../protocol/index.js';
