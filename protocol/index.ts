export * from './messages.js';
export * from './errors.js';
export * from './codec.js';
export { validateMessage, MAX_SUBSCRIPTIONS } from './validate.js';
export * from './ha-messages.js';
export * from './msgpack-shape.js';
export * from './chain.js';
