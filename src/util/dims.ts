// Arithmetic on tensor dimensions shared by graphs, data and files: element counts and negative
// axes. Imports nothing of the project.

/** Number of elements of a tensor with these dims (1 for a scalar). */
export const numel = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** A possibly negative axis (counted from the end, as ONNX allows) as 0..rank-1. */
export const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);
