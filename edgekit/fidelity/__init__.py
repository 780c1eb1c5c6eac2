"""Every artifact proves itself: fidelity metrics (:mod:`.metrics`), the budget gate (:mod:`.gate`, one
implementation shared by convert, sweep, build and the report's checks), per-layer quantization error
(:mod:`.layers`) and accuracy-aware mixed precision (:mod:`.mixed`)."""
