"""The CEB message standard (China e-port, namespace ``http://www.chinaport.gov.cn/ceb``): field specs, parsing,
emitting, receipts and status codes."""
