// src/autodiff/rules: one gradient rule per ONNX op, a file per family; importing this registers
// them all. Imports src/onnx, ../rule, ../helpers and sibling rule files only.
import './arithmetic.js';
import './unary.js';
import './activations.js';
import './piecewise.js';
import './softmax.js';
import './reductions.js';
import './layout.js';
import './indexing.js';
import './select.js';
import './cast.js';
import './dropout.js';
import './nograd.js';
import './matmul.js';
import './einsum.js';
import './conv.js';
import './pool.js';
import './resize.js';
import './batchnorm.js';
import './normalization.js';
