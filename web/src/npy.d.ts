import type { DType, Tensor, TypedArray } from './index.js';
/** Parses .npy bytes (C order). */
export function readNpy(bytes: Uint8Array | ArrayBuffer): Tensor;
/** Serializes a tensor as .npy (format 1.0). */
export function writeNpy(tensor: { data: TypedArray; shape: number[]; dtype?: DType }): Uint8Array;
