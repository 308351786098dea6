// Importing this module registers every gradient rule (one file per op or op family).
import './elementwise.js';
import './matmul.js';
import './shape.js';
import './reduce.js';
import './activation.js';
import './activation_extra.js';
import './softmax.js';
import './dropout.js';
import './select.js';
import './cast.js';
import './reduce_extra.js';
import './nograd.js';
import './conv.js';
import './pool.js';
import './batchnorm.js';
import './normalization.js';
import './movement.js';
