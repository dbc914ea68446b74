"""One module per endpoint, one public view class each."""
