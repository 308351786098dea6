// src/config: the run configuration: types, schema and validation, presets, schedules, and what
// a config means for the dataset. Imports src/data and src/util.
export * from './presets.js';
export * from './resolve.js';
export * from './schedule.js';
export * from './schema.js';
export * from './types.js';
export * from './dataset.js';
