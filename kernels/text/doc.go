// Package text implements the string and classic machine-learning
// operators: StringNormalizer, StringConcat, StringSplit, RegexFullMatch and
// TfIdfVectorizer from the default domain, and LabelEncoder, Binarizer,
// ArrayFeatureExtractor and TreeEnsemble from ai.onnx.ml.
//
// String tensors hold Go strings ([]string); regular expressions use Go's
// regexp package, whose RE2 syntax is the one the ONNX specification names.
// Lookup structures (stop-word sets, n-gram tries, label maps, trees) are
// built once when the node is compiled.
package text
