"""The album: photos, their versions and captions, batches and the trash, on disk (`storage`) with their
records in SQLite or PostgreSQL (`metadata`, `batch_index`, `db`, `schema`), as ZIP downloads (`zips`) and
as one archive file (`archive`: `heirloom album export/import`)."""
