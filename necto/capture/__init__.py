"""mitmproxy adapters: the only place that knows mitmproxy's flow types."""
