#include "textflag.h"

// func linearMemoryPages() int32
TEXT ·linearMemoryPages(SB), NOSPLIT, $0
	Get SP
	CurrentMemory
	I32Store ret+0(FP)
	RET
