# Times in the admin carry their zone (the display time zone, DISPLAY_TIME_ZONE), in one
# unambiguous form: "2026-12-01 05:45:00 UTC" rather than "Dec. 1, 2026, 5:45 a.m.".
DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
