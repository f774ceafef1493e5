//! A GGUF model: typed config and weights as views into the mapping.
