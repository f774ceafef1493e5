//! Scalar block codecs, bit-exact with ggml's `quantize_row_*_ref`.
