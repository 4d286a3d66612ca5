"""Media between kinds of call leg: a browser (WebRTC, through aiortc) joins the SIP connector's
RTP relay as if it were a phone, so a customer who presses "talk now" on a pivot page talks to the
agent's desk phone."""
