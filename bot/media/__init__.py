"""Evidence that arrives as a file: fetched from Twilio, cleaned, kept content-addressed.

``fetch`` (the only code that requests a MediaUrl), ``clean`` (type from the bytes, images
re-encoded without metadata), ``store`` (the files, by SHA-256), ``collect`` (what is no longer
referenced goes), ``models`` (the private tables that track them).
"""
