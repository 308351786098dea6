export * from './presets.js';
export * from './resolve.js';
export * from './schedule.js';
export * from './schema.js';
export * from './types.js';
export * from './dataset.js';
