pdl.pattern @neg_neg : benefit(1) {
  %t = pdl.type
  %x = pdl.operand
  %inner = pdl.operation "graph.neg" (%x : !pdl.value) -> (%t : !pdl.type)
  %v = pdl.result 0 of %inner
  %outer = pdl.operation "graph.neg" (%v : !pdl.value) -> (%t : !pdl.type)
  pdl.rewrite %outer {
    pdl.replace %outer with (%x : !pdl.value)
  }
}
