"""Work handed out inside a project: items assigned to named people for writing, labeling,
fixing or reviewing, with an optional due date."""
