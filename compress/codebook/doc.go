// Package codebook is Deep Compression's weight sharing and entropy coding
// (Han et al., ICLR 2016): each large weight tensor is clustered into a
// per-tensor codebook of at most 2^bits values (k-means, linear
// initialisation), the index of each weight is entropy-coded (canonical
// Huffman or rANS, package compress/entropy), and the zeros left by pruning
// are stored as a run-length mask instead of as indices. Encode writes the
// result as a container (a tensor that already holds at most 2^bits
// distinct values, such as shared weights after centroid fine-tuning in
// package compress/deepcomp, gets exactly those values as its codebook
// and is coded without loss); Decode turns a container back into a graph.Model
// that the runtime runs, and Share gives the same model without the
// container (to measure accuracy).
//
// # Container format, version 1
//
// All integers are little endian; "uvarint" is unsigned LEB128.
//
//	header (20 bytes)
//	  magic     8 bytes  89 45 44 4C 44 43 0D 0A  ("\x89EDLDC\r\n": the high
//	                     byte and CR LF catch 7-bit and newline mangling)
//	  version   uint16   1
//	  flags     uint16   0 (readers reject others)
//	  sections  uint32   number of sections that follow
//	  crc       uint32   CRC-32C (Castagnoli) of the 16 bytes above
//	section (repeated)
//	  kind      byte     1 = model skeleton (first, exactly once), 2 = coded tensor
//	  length    uint32   payload bytes
//	  payload
//	  crc       uint32   CRC-32C of kind, length and payload
//
// The file ends right after the last section. The skeleton is an ONNX
// ModelProto in which every coded tensor is a float32 initializer of shape
// [0] (a placeholder that keeps the graph valid). A coded tensor's payload:
//
//	name       uvarint length, then the bytes (the initializer it fills)
//	dtype      byte (1 = float32)
//	rank       uvarint, then each dimension as a uvarint
//	bits       byte, 1..8
//	codebook   uvarint k (at most 2^bits), then k float32 values, ascending
//	mask       byte: 0 = every element is coded;
//	           1 = uvarint length, then an entropy stream of gap symbols: g < 255
//	               means "g zeros, then a coded element", 255 means "255 zeros";
//	               elements after the last coded one are zero
//	indices    uvarint length, then an entropy stream (alphabet k) with one
//	           codebook index per coded element, in row-major order
//
// Decode checks the magic, version, flags and every checksum, bounds each
// count by the bytes that carry it and the total number of elements by
// DecodeOptions.MaxElements, and fails with an error wrapping ErrFormat on
// anything malformed; it never panics (FuzzDecode).
package codebook
