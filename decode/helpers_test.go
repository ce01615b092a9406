package decode

import (
	"fmt"
	"math/big"
)

func fmtValue(v any) string { return fmt.Sprint(v) }

func mustRat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}
