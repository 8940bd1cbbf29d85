"""The pipeline's own machinery: reading the config, planning the DAG, where each step writes, what every step script
shares (arguments, logs, atomic writes), the tensor files between steps, code digests and provenance."""
