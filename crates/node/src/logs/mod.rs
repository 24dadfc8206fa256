//! Container logs in the CRI format the kubelet reads
//! (`<RFC3339Nano> <stdout|stderr> <F|P> <text>`).

pub mod reader;
pub mod writer;
