//! GgufHeader::parse on arbitrary bytes; on success, every tensor's data and every metadata
//! getter are touched. Any panic, out-of-bounds slice or huge allocation is a bug.
#![no_main]

use edge_formats::gguf::{GgufHeader, Value};
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, GgmlType};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = GgufHeader::parse(data, Path::new("fuzz.gguf")) else {
        return;
    };
    for t in &header.tensors {
        let bytes = header
            .tensor_data(data, t)
            .expect("a parsed tensor lies inside the image");
        assert_eq!(bytes.len() as u64, t.n_bytes);
        let _ = t.dims.n_rows();
        let _ = t.dims.row_len();
        // Casting may fail on alignment (the fuzzer's buffer is not page-aligned) but must
        // not panic.
        match t.ty {
            GgmlType::Q4_0 => drop(bytemuck::try_cast_slice::<u8, BlockQ4_0>(bytes)),
            GgmlType::Q4_1 => drop(bytemuck::try_cast_slice::<u8, BlockQ4_1>(bytes)),
            GgmlType::Q8_0 => drop(bytemuck::try_cast_slice::<u8, BlockQ8_0>(bytes)),
            _ => drop(bytemuck::try_cast_slice::<u8, f32>(bytes)),
        }
    }
    let m = &header.metadata;
    for (key, value) in m.iter() {
        let _ = m.get_u32(key);
        let _ = m.get_u64(key);
        let _ = m.get_i32(key);
        let _ = m.get_i64(key);
        let _ = m.get_f32(key);
        let _ = m.get_f64(key);
        let _ = m.get_bool(key);
        let _ = m.get_str(key);
        let _ = m.get_str_array(key);
        let _ = m.get_f32_array(key);
        let _ = m.get_i32_array(key);
        let _ = m.get_u32_array(key);
        let _ = m.opt_array(key);
        let _ = format!("{value:.8}");
        let _ = value.type_of();
        if let Value::Array(items) = value {
            for item in items.iter().take(16) {
                let _ = item.as_u64();
                let _ = item.as_f64();
                let _ = item.as_str();
            }
        }
    }
});
