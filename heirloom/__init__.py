"""The `heirloom` command line, above the engine (`model`), its training (`model.training`) and the web app
(`app`): the only package that imports all of them."""
