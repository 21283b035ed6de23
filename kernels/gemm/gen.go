package gemm

//go:generate go run ./internal/asmgen -arch amd64 -o kernel_amd64.s
//go:generate go run ./internal/asmgen -arch arm64 -o kernel_arm64.s
