"""Pure code shared by the web app and the trainer: no database, web or torch imports."""
