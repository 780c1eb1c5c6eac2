"""Every artifact proves itself: fidelity metrics (:mod:`.metrics`) and the budget gate (:mod:`.gate`), one
implementation shared by convert, sweep, build and the report's checks."""
