def forecasts_compute():
    pass
