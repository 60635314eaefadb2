"""Sources of backups other than file trees: database servers and files dumped as streams."""
