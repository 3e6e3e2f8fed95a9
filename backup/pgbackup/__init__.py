"""The scheduled backup service (backup/): dump the database, encrypt the dump for an age public
key, keep it in the `backups` volume and upload it to an S3-compatible bucket, apply retention,
restore the latest dump into a scratch database to verify it, and export how both went."""
