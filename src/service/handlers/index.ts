import { Kind, type MessageOf, type RequestMessage } from '../../../protocol/index.js';
import type { ClientSession } from '../session.js';
import { handleBackupDatabase } from './backup-database.js';
import { handleCancel } from './cancel.js';
import { handleLoadSnapshot } from './load-snapshot.js';
import { handleLoginStart } from './login-start.js';
import { handleReadObjects } from './read-objects.js';
import { handleRegister } from './register.js';
import { handleGetServerInfo } from './server-info.js';
import { handleStandby } from './standby.js';
import { handleSubscribe, handleUnsubscribe } from './subscribe.js';
import { handleCreateObject, handleDeleteObject, handleUpdateObject } from './write-objects.js';

type Handler<K extends RequestMessage['kind']> = (session: ClientSession, message: MessageOf<K>) => void | Promise<void>;

/** One handler per request kind a server accepts. */
export const handlers: { [K in RequestMessage['kind']]: Handler<K> } = {
  [Kind.Register]: handleRegister,
  [Kind.ReadObjects]: handleReadObjects,
  [Kind.Subscribe]: handleSubscribe,
  [Kind.Unsubscribe]: handleUnsubscribe,
  [Kind.CreateObject]: handleCreateObject,
  [Kind.UpdateObject]: handleUpdateObject,
  [Kind.DeleteObject]: handleDeleteObject,
  [Kind.GetServerInfo]: handleGetServerInfo,
  [Kind.LoadSnapshot]: handleLoadSnapshot,
  [Kind.Standby]: handleStandby,
  [Kind.Cancel]: handleCancel,
  [Kind.BackupDatabase]: handleBackupDatabase,
  [Kind.LoginStart]: handleLoginStart,
};
