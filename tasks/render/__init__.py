"""What people look at: the overlay video and the HTML reports."""
