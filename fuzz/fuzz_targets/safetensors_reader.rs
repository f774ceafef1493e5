//! SafeTensors::from_bytes on arbitrary bytes; on success, every tensor (aliases included) is
//! viewed and converted to f32 row by row. Any panic is a bug.
#![no_main]

use edge_formats::safetensors::SafeTensors;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(st) = SafeTensors::from_bytes(data.to_vec(), Path::new("fuzz.safetensors")) else {
        return;
    };
    for name in st.names() {
        let _ = st.is_alias(name);
        let _ = st.alias_target(name);
        let view = st.tensor(name).expect("a listed name resolves");
        let row_len = view.shape.row_len();
        let mut out = vec![0f32; row_len.min(1 << 16)];
        let rows = view.shape.n_rows().min(4);
        for r in 0..rows {
            if row_len <= out.len() {
                view.rows_to_f32(r, 1, &mut out[..row_len])
                    .expect("rows inside a parsed tensor convert");
            }
        }
        let _ = view.rows_to_f32(usize::MAX, 2, &mut out);
        let _ = st.release(name);
    }
});
