//! crane-loadgen (being written)
