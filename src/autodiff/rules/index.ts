// Importing this module registers every gradient rule (one file per op or op family).
import './elementwise.js';
import './matmul.js';
import './shape.js';
import './reduce.js';
