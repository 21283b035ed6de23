// Package nn implements the neural-network core operators: Conv,
// ConvTranspose, Gemm, MatMul, the pools, the normalizations, Softmax and
// its relatives, Dropout and Einsum.
package nn
