// Command edgedl runs, inspects and profiles ONNX models with edgedl's
// pure-Go runtime.
//
// Usage:
//
//	edgedl run MODEL.onnx --input FILE [--input FILE ...] [--output-dir DIR] [--threads N] [--json]
//	edgedl info MODEL.onnx [--json] [--batch N] [--nodes]
//	edgedl profile MODEL.onnx [--runs K] [--warmup W] [--threads N] [--input FILE ...] [--json]
//	edgedl conformance DIR [DIR ...] [--filter REGEXP] [--timeout 60s] [--json] [--list-passing FILE]
//	edgedl version
//	edgedl help [COMMAND]
//
// run feeds a model ONNX TensorProto (.pb), NumPy (.npy) or image (.png,
// .jpg, .gif) inputs, matched to the graph inputs in order, writes every
// output as DIR/output_K.pb and prints a summary (top-5 classes for [N,C]
// float outputs). Images are converted by package tensorio: resized to the
// model input's H,W (or --resize/--crop), divided by --scale and normalised
// by --mean/--std. --expect-dir compares with stored outputs by relative L2
// error.
//
// info prints a model's interface, opsets, operator histogram, parameter
// count and FLOPs per inference. FLOPs come from one run on zero inputs
// (runtime.Session.InferShapes) with the convention of runtime.NodeFLOPs.
//
// profile times every node over several runs (runtime.Profile) and prints
// a table of latency, FLOPs and output bytes; --json gives the
// runtime.ProfileReport that the partition planner reads.
//
// conformance runs ONNX backend test folders and ends with the line
// "N passed, M failed, K skipped".
//
// Flags may come before or after the arguments. Errors are printed as one
// line naming the file, node or op at fault; the exit status is 0 on
// success, 1 on an error and 2 on a command-line mistake. Logs go to stderr
// at --log-level (default warn).
package main
