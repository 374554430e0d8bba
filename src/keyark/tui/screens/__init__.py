"""The three screens: snapshots, tree, restore."""
