package quant

//go:generate go run ./internal/asmgen -o vnni_amd64.s
