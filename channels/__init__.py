"""Channel plugins: one module per way of reaching people, registered in channels.registry."""
