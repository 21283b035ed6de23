// Package tensorio reads and writes tensors in the file formats people
// bring to a model: NumPy's .npy arrays and images (PNG, JPEG, GIF).
// ONNX TensorProto .pb files are package onnx's (ReadTensor, WriteTensor).
//
// An .npy round trip:
//
//	err := tensorio.SaveNPY("x.npy", x)     // little-endian, C order
//	y, err := tensorio.LoadNPY("x.npy")     // any byte order, versions 1.0-3.0
//
// ReadNPY accepts float16/32/64, int8..int64, uint8..uint64 and bool arrays
// in C order; it refuses Fortran-order and structured arrays. It checks the
// declared shape against tensor.MaxElements and reads the data before
// allocating the tensor, so a truncated or hostile file fails cleanly.
//
// An image becomes the input of a vision model with ImageTensor, which
// converts channels (grayscale by ITU-R 601-2 luma, RGB or RGBA), resizes
// (bilinear, antialiased when shrinking, like PIL), centre-crops, divides by
// a scale (255 by default) and normalises per channel:
//
//	img, err := tensorio.LoadImage("cat.jpg")
//	x, err := tensorio.ImageTensor(img, tensorio.ImageOptions{
//		Width: 224, Height: 224,
//		Mean: []float32{0.485, 0.456, 0.406}, Std: []float32{0.229, 0.224, 0.225},
//	}) // float32 [1,3,224,224]
//
// Every error names the package ("tensorio: ..."), and the Load functions
// prefix the file's path.
package tensorio
