//! crane-charts (being written)
