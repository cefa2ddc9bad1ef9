"""What people read: view data, SVG charts, the HTML/PDF report, the terminal, and the
files CI systems read (JUnit, step summary)."""
